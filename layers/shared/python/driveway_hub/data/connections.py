"""WebSocket connections: by id, and by user (GSI), expiring by TTL."""

from __future__ import annotations

from datetime import datetime, timedelta

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from driveway_hub.data.base import TableModel

# API Gateway closes a WebSocket after 2 h at most; keep the record a little longer so $disconnect
# can still find it, and let TTL remove records whose $disconnect never came.
CONNECTION_TTL = timedelta(hours=3)


class ConnectionsByUser(GlobalSecondaryIndex["Connection"]):
    class Meta:
        index_name = "by_user"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)


class Connection(TableModel):
    logical_id = "connections"

    connection_id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    connected_at = UnicodeAttribute()
    expires_at = NumberAttribute()

    by_user = ConnectionsByUser()


class ConnectionRepository:
    def save(self, connection_id: str, user_id: str, now: datetime) -> None:
        Connection(
            connection_id,
            user_id=user_id,
            connected_at=now.isoformat(),
            expires_at=int((now + CONNECTION_TTL).timestamp()),
        ).save()

    def delete(self, connection_id: str) -> None:
        Connection(connection_id).delete()

    def delete_if_connected_before(self, connection_id: str, cutoff: datetime) -> bool:
        """Delete the record unless it was saved at or after ``cutoff`` (a socket still connecting)."""
        try:
            Connection(connection_id).delete(condition=Connection.connected_at < cutoff.isoformat())
        except DeleteError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def for_user(self, user_id: str) -> list[str]:
        return [c.connection_id for c in Connection.by_user.query(user_id)]
