"""Entry point for Faust's own command line (``faust -A streams.worker worker``).

Faust's CLI needs a module-level app, so this one line calls the factory; ``ehcp worker`` is the
usual way in and builds the app itself.
"""

from ehcp.settings import Settings
from streams.app import create_app

app = create_app(Settings.from_env())
