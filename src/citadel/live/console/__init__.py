"""The admin web console at ``/ui``: sign-in sessions, roles, and JSON routes behind a static page."""
