"""``lensscan inspect``: grade candidates by eye in a browser; grades go to SQLite."""

from __future__ import annotations

from pathlib import Path

import typer

from lensscan.inspect.server import DEFAULT_HOST, DEFAULT_PORT


def inspect(
    catalog: Path = typer.Argument(..., help="Ranked candidate catalog from lensscan scan."),
    fields: list[Path] = typer.Argument(
        None,
        help="FITS field files the catalog was scanned from (default: those it records).",
        show_default=False,
    ),
    cutouts: Path = typer.Option(
        None, "--cutouts", help="Cutout store whose item k is catalog row k, instead of FITS."
    ),
    db: Path = typer.Option(..., "--db", help="Grade database (SQLite; created if new)."),
    grader: str = typer.Option(..., "--grader", help="Your name, as it goes into the grades."),
    top: int = typer.Option(None, "--top", help="Grade only the first N candidates."),
    host: str = typer.Option(
        DEFAULT_HOST, "--host", help="Address to listen on (default: this machine only)."
    ),
    port: int = typer.Option(DEFAULT_PORT, "--port", help="Port to listen on (0: any free port)."),
) -> None:
    """Serve the candidates to grade 0-3 with the keyboard, in rank order, in a browser."""
    from lensscan.inspect.server import bind_socket, is_loopback, serve
    from lensscan.inspect.session import open_session

    # The port first: a busy port must not leave a new, empty grade database behind.
    listener = bind_socket(host, port)
    try:
        session = open_session(
            catalog, db, grader, field_files=fields or [], cutouts=cutouts, top=top
        )
    except BaseException:
        listener.close()
        raise
    try:
        from lensscan.inspect.app import LOOPBACK_HOSTS, create_app

        loopback = is_loopback(host)
        app = create_app(session, allowed_hosts=LOOPBACK_HOSTS if loopback else ["*"])
        bound_port = listener.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        typer.echo(
            f"grading {session.top} candidates of {session.catalog.path} as {session.grader!r} "
            f"({session.progress()} graded); grades in {db}"
        )
        if not loopback:
            typer.echo(
                f"warning: listening on {host}, reachable from other machines (anyone who can "
                "reach it can read the candidates); use --host 127.0.0.1 and an SSH tunnel",
                err=True,
            )
        typer.echo(f"open http://{shown}:{bound_port}/  (Ctrl-C to stop)")
        serve(app, listener)
    finally:
        listener.close()
        session.close()
