"""`reviewkit serve`: the review pages as live dashboards (Voila) for leaders and reviewers."""

from __future__ import annotations

from pathlib import Path

import click

from reviewkit.cli.common import project_option, user_errors


@click.command()
@project_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8866, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--token",
    default=None,
    metavar="TOKEN",
    envvar="REVIEWKIT_TOKEN",
    help="Viewers need ?token=TOKEN in the URL (once; a cookie keeps it). Required with a "
    "--host other than loopback. Better from the REVIEWKIT_TOKEN environment variable: a "
    "command line is visible to every user of the machine (ps).",
)
@click.option(
    "--no-token",
    is_flag=True,
    help="No token (the default on loopback; refused on any other --host).",
)
@click.option(
    "--pool-size",
    default=1,
    show_default=True,
    type=click.IntRange(min=0),
    help="Preheated kernels per page: a page shows fast while one is waiting (0: none).",
)
@click.option(
    "--cull-after",
    default=300,
    show_default=True,
    type=click.IntRange(min=10),
    help="Seconds after which a page nobody has open gives its kernel (memory) back.",
)
@click.option(
    "--max-kernels",
    default=16,
    show_default=True,
    type=click.IntRange(min=1),
    help="Most pages open at once; past it viewers are asked to come back shortly.",
)
@click.option(
    "--sign-in",
    type=click.Choice(["token", "people", "proxy", "hub"]),
    default="token",
    show_default=True,
    help="token: one shared token (saves recorded under the server's user); people: each "
    "person's own token (reviewkit users add), saves recorded under their name; proxy: the "
    "X-Forwarded-User/-Email headers of an authenticating proxy (--trusted-proxy); hub: "
    "JupyterHub's users, run as a Hub service (docs/jupyterhub_config.py).",
)
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    multiple=True,
    metavar="ADDRESS",
    help="With --sign-in proxy: the proxy's address, whose headers are believed (repeatable); "
    "requests from anywhere else are refused.",
)
@click.option(
    "--default-role",
    type=click.Choice(["viewer", "contributor"]),
    default="viewer",
    show_default=True,
    help="With --sign-in proxy or hub: the role of someone signed in who is not in "
    "reviewkit users (who are, keep theirs).",
)
def serve(
    project: Path,
    host: str,
    port: int,
    token: str | None,
    no_token: bool,
    pool_size: int,
    cull_after: int,
    max_kernels: int,
    sign_in: str,
    trusted_proxies: tuple[str, ...],
    default_role: str,
) -> None:
    """Serve the project's review pages with Voila: the review (scorecard, then each outcome with
    its outputs and impact), the link editor, the check-ins and the KPI explorer. Open
    review.ipynb?period=2026-10&team=growth for one month and team."""
    from reviewkit.serve.server import ServeOptions  # noqa: PLC0415 (keep --help fast)
    from reviewkit.serve.server import serve as run  # noqa: PLC0415

    context = click.get_current_context()
    if token is not None and no_token:
        source = context.get_parameter_source("token")
        if source is not click.core.ParameterSource.ENVIRONMENT:
            raise click.UsageError("--token and --no-token exclude each other")
        token = None  # --no-token wins over REVIEWKIT_TOKEN
    if sign_in == "proxy" and not trusted_proxies:
        raise click.UsageError("--sign-in proxy needs --trusted-proxy ADDRESS (the proxy's)")
    typed = click.core.ParameterSource.COMMANDLINE
    given = [o for o in ("host", "port") if context.get_parameter_source(o) is typed]
    if sign_in == "hub" and given:
        raise click.UsageError(
            f"--sign-in hub listens where the Hub says (JUPYTERHUB_SERVICE_URL): drop --{given[0]}"
        )
    if sign_in != "token" and token:
        raise click.UsageError(f"--sign-in {sign_in} signs people in: drop the shared --token")
    with user_errors():
        run(
            ServeOptions(
                project=project,
                host=host,
                port=port,
                token=token,
                pool_size=pool_size,
                cull_after=cull_after,
                max_kernels=max_kernels,
                sign_in=sign_in,
                trusted_proxies=trusted_proxies,
                default_role=default_role,
            )
        )
