"""Tesla: account linking, the Fleet API client, vehicle endpoints, telemetry ingest and parking.

Modules (domain code takes its collaborators as arguments; ``runtime`` wires the real ones):

- ``errors``        what Tesla's answers mean to us (``VehicleAsleep`` is matched by Step Functions Retry);
- ``fleet_client``  requests-based Fleet API + OAuth client, typed results, refresh/region/rate rules;
- ``token_store``   tokens encrypted with KMS (envelope, context = user), single-writer refresh;
- ``oauth_state``   signed, expiring OAuth ``state`` bound to the caller;
- ``linking``       connect (authorize URL) and callback (code exchange, region, vehicles, pairing);
- ``geofence``      inside/outside a driveway with a GPS accuracy margin, plausibility of a fix;
- ``telemetry``     one ingest function behind two doors (HMAC webhook, Kinesis) and the detector;
- ``parking``       the parking-manoeuvre port (Tesla: driver-guided; simulator: automatic);
- ``vehicles``      the vehicle endpoints' domain (list, status, location, navigate, autopark);
- ``runtime``       wiring from settings (secrets, KMS, DynamoDB, Step Functions, WebSocket).

Facts about the real Fleet API this package respects are in /work/shared/research/tesla.md and
docs/tesla.md.
"""
