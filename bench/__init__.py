"""Benchmarks that print figures (issue #8): ``python -m bench`` (or ``make bench``).

- ``cold_start``: whole-process import time and peak RSS of every function vs a boto3+Logger baseline.
- ``package_size``: the assets CDK uploads, unzipped and zipped, against Lambda's 250 MB.
- ``dynamodb_work``: DynamoDB requests/items/capacity per route and a booking's whole life, counted by
  botocore hooks through the running local cloud.
- ``cost`` and ``prices``: those counts priced per booking and per month.
- ``search_bench``: radius search figures (its own module, another engineer's).

Figures only: nothing here asserts on a timing.
"""
