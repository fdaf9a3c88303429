"""Identity and access: token verification, RBAC, the Cognito port, account and privacy services.

Cognito owns identities and passwords; this package never sees a password hash. Handlers in
``functions/auth`` and ``functions/api/me_*`` are the edges; ``runtime`` wires the services for them.
"""
