"""The workspace's routes, one module per area; included by :func:`workspace.app.create_app`."""
