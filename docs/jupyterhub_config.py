"""JupyterHub in front of reviewkit's live pages: people sign in to the Hub, and the pages,
served by `reviewkit serve --sign-in hub` as a Hub service, know who each of them is.

From the project folder (the one with reviewkit.yaml), in the environment that has reviewkit
and jupyterhub (and a proxy: Node's configurable-http-proxy, or the Python one that
`pip install configurable-http-proxy` brings):

    REVIEWKIT_HUB_PASSWORD=... jupyterhub -f docs/jupyterhub_config.py

then open http://127.0.0.1:8000/ and sign in: the Hub sends you to the review. This file is
the recipe `tests/test_serve.py` starts. For real use, replace the shared-password authenticator
below with your organisation's (OAuthenticator, LDAPAuthenticator...) and put the Hub behind
HTTPS.

- A Hub user who is also in `reviewkit users` (by name or by email: add them with the name
  the Hub gives them as --email when it is an address) has their role there; everyone else the
  Hub lets in has `--default-role` (viewer). Owners of an outcome are matched by its `owner:`.
- The Hub passes only what it is told to its services: this file passes the project, every
  REVIEWKIT_* variable (the store, for one) but the Hub's password, and PostgreSQL's client
  variables (PG*: PGPASSWORD for a PostgreSQL store's password, PGSSLMODE...).
- A service that cannot start (its store unreachable, say) makes the Hub exit with its error in
  the log; this file then stops the proxy the Hub started, which JupyterHub leaves running.
"""

import atexit
import contextlib
import os
import signal
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (JupyterHub defines it)

PROJECT = Path(os.environ.get("REVIEWKIT_PROJECT", Path.cwd())).resolve()
#: the Hub's own state (its database, cookie secret, the proxy's pid), kept with the project's
STATE = PROJECT / ".reviewkit" / "hub"
STATE.mkdir(parents=True, exist_ok=True)

c.JupyterHub.bind_url = "http://127.0.0.1:8000"  # where people open the Hub
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = str(STATE / "proxy.pid")


def stop_the_proxy() -> None:
    """Stop the proxy the Hub started if it is still running as the Hub exits: JupyterHub
    leaves it running when a service fails to start (a Hub stopped as usual has stopped it and
    removed its pid file by then)."""
    pid_file = Path(c.ConfigurableHTTPProxy.pid_file)
    try:
        pid = int(pid_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    pid_file.unlink(missing_ok=True)


atexit.register(stop_the_proxy)
# The proxy in this environment if there is one (the Python configurable-http-proxy),
# otherwise Node's on the PATH.
beside = Path(sys.executable).parent / "configurable-http-proxy"
c.ConfigurableHTTPProxy.command = [str(beside) if beside.exists() else "configurable-http-proxy"]

# Who may sign in: replace with your organisation's authenticator. This one lets in whoever
# gives the one password in REVIEWKIT_HUB_PASSWORD (8 characters or more), and nobody without it.
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = os.environ.get("REVIEWKIT_HUB_PASSWORD")
c.Authenticator.allow_all = True

# The review pages, as a service the Hub starts, at /services/reviews/.
c.JupyterHub.services = [
    {
        "name": "reviews",
        "url": "http://127.0.0.1:10101",  # where the Hub's proxy finds the pages
        "command": [
            sys.executable,
            "-m",
            "reviewkit",
            "serve",
            "--sign-in",
            "hub",
            "--project",
            str(PROJECT),
        ],
        "cwd": str(PROJECT),
        "environment": {
            "PATH": os.environ.get("PATH", os.defpath),
            **{
                k: v
                for k, v in os.environ.items()
                if k.startswith(("REVIEWKIT_", "PG")) and k != "REVIEWKIT_HUB_PASSWORD"
            },
        },
        "oauth_no_confirm": True,  # our own service: no "authorize reviews?" page
        "display": True,
    }
]
# Every Hub user may open the review pages (what they may change there is reviewkit's roles).
c.JupyterHub.load_roles = [
    {"name": "user", "scopes": ["self", "access:services!service=reviews"]},
]
# Signing in lands on the review.
c.JupyterHub.default_url = "/services/reviews/voila/render/review.ipynb"
