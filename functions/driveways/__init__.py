"""Driveway listings, search and quotes (issue #4): one module per REST route, thin.

``models`` holds the request models validated at the edge; ``runtime`` builds the domain services with
their real collaborators (DynamoDB, S3, the clock) once per warm container.
"""
