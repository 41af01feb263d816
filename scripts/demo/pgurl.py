"""psql for a postgres:// URL without its password on the command line (every local user can
read a process's arguments): the password goes in PGPASSWORD."""
import os
import urllib.parse


def psql(url):
    """`psql` arguments and environment for `url`."""
    u = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(u.query))
    env = dict(os.environ)
    env["PGPASSWORD"] = urllib.parse.unquote(u.password or "")
    if "sslmode" in query:
        env["PGSSLMODE"] = query["sslmode"]
    args = ["psql", "-h", u.hostname or "127.0.0.1", "-p", str(u.port or 5432),
            "-U", urllib.parse.unquote(u.username or ""), "-d", u.path.lstrip("/")]
    return args, env
