"""Tesla handlers: thin edges over ``driveway_hub.tesla`` (parse, one domain call, shape the answer)."""
