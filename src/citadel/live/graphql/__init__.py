"""GraphQL at ``/graphql`` (Strawberry): models, request metrics, analytics, health, a chat mutation and a
metrics subscription over ``graphql-transport-ws``."""

from citadel.live.graphql.app import graphql_app

__all__ = ["graphql_app"]
