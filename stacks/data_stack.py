"""Stateful resources: tables, the photo bucket, the Tesla token key, secrets and the telemetry stream.

Everything that holds data lives here, apart from the stacks that are redeployed often, so that a
mistake in the API or workflow stacks can never replace a table. Tables come from the shared
declaration ``driveway_hub.data.tables.TABLES`` (the local cloud creates the same tables from it).
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from driveway_hub.data.tables import TABLES, Key, TableSpec
from stacks import constants as c
from stacks.environment import EnvironmentConfig
from stacks.nag import acknowledge

_ATTRIBUTE_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER}

# What operators put in each secret of constants.SECRETS.
_SECRET_CONTENT = {
    "stripe": "Stripe secret key, publishable key and webhook signing secrets (JSON)",
    "tesla": "Tesla Fleet API client id, client secret and app private key (JSON)",
    "telemetry": "HMAC secret shared with the Tesla telemetry relay",
}


def _attribute(key: Key) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=key.name, type=_ATTRIBUTE_TYPES[key.type])


class DataStack(cdk.Stack):
    """Tables, photo bucket, Tesla token key, secrets and telemetry stream for one environment."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs: Any):
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.tables: dict[str, dynamodb.Table] = {spec.logical_id: self._table(spec) for spec in TABLES}
        self.photo_bucket = self._photo_bucket()
        self.tesla_token_key = kms.Key(
            self,
            c.TESLA_KEY,
            alias=f"alias/{c.resource_name(config.name, 'tesla-tokens')}",
            description="Encrypts Tesla OAuth tokens before they are stored in DynamoDB",
            enable_key_rotation=True,
            removal_policy=config.cdk_removal_policy,
        )
        self.secrets: dict[str, secretsmanager.Secret] = {
            name: self._secret(name, construct_id, _SECRET_CONTENT[name])
            for name, construct_id in c.SECRETS.items()
        }
        self.telemetry_stream = kinesis.Stream(
            self,
            c.TELEMETRY_STREAM,
            stream_name=c.resource_name(config.name, "telemetry"),
            stream_mode=kinesis.StreamMode.PROVISIONED,
            shard_count=config.telemetry_stream_shards,
            # AWS managed key: encrypted at rest without a key policy for the external producer to share.
            encryption=kinesis.StreamEncryption.MANAGED,
            retention_period=cdk.Duration.hours(24),
            removal_policy=config.cdk_removal_policy,
        )

    def _table(self, spec: TableSpec) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            c.table_id(spec.logical_id),
            # The declared name: the same one the local cloud and env_for() use.
            table_name=spec.default_name(self.config.name),
            partition_key=_attribute(spec.partition),
            sort_key=_attribute(spec.sort) if spec.sort else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            # AWS managed key (aws/dynamodb): encryption at rest with key use in CloudTrail and no key
            # policy to maintain. The one secret-grade value, Tesla tokens, is also encrypted by the
            # application with the customer managed TeslaTokenKey, so a table CMK would add cost
            # and grants without adding protection.
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute=spec.ttl_attribute,
            stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES if spec.stream else None,
            deletion_protection=self.config.retain,
            removal_policy=self.config.cdk_removal_policy,
        )
        for index in spec.indexes:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=_attribute(index.partition),
                sort_key=_attribute(index.sort) if index.sort else None,
                projection_type=dynamodb.ProjectionType.ALL,
            )
        return table

    def _photo_bucket(self) -> s3.Bucket:
        config = self.config
        access_logs = s3.Bucket(
            self,
            c.ACCESS_LOG_BUCKET,
            # Server access log delivery supports SSE-S3 only.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=cdk.Duration.days(config.access_log_expiry_days),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                )
            ],
            removal_policy=config.cdk_removal_policy,
        )
        acknowledge(
            access_logs,
            "AwsSolutions::AwsSolutions-S1",
            "This bucket is the target of the photo bucket's server access logs; logging the log "
            "bucket itself would only record log deliveries.",
        )
        return s3.Bucket(
            self,
            c.PHOTO_BUCKET,
            bucket_name=c.photo_bucket_name(config.name, self.account, self.region),
            # Listing photos are shown to every driver: SSE-S3 protects them at rest without a KMS
            # call (and cost) per presigned upload and download.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="photos/",
            lifecycle_rules=[
                # Abandoned presigned multipart uploads would otherwise be stored (and billed) forever.
                s3.LifecycleRule(abort_incomplete_multipart_upload_after=cdk.Duration.days(1))
            ],
            removal_policy=config.cdk_removal_policy,
        )

    def _secret(self, name: str, construct_id: str, description: str) -> secretsmanager.Secret:
        # No value in code: CloudFormation generates a random placeholder and operators put the real
        # value (aws secretsmanager put-secret-value --secret-id driveway-hub/<env>/<name>).
        secret = secretsmanager.Secret(
            self,
            construct_id,
            secret_name=c.secret_name(self.config.name, name),
            description=f"{description}. Created with a placeholder; operators set the value.",
            removal_policy=self.config.cdk_removal_policy,
        )
        acknowledge(
            secret,
            "AwsSolutions::AwsSolutions-SMG4",
            "Third-party credentials (Stripe, Tesla, relay HMAC) are rotated in the vendor's console "
            "and then written here by operators; no rotation Lambda can create them.",
        )
        return secret
