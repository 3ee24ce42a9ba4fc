"""irprobe.dbfile: the database a reading command opens must already be there.

Commands that only read (show, export, plot) refuse a path with no database instead of
creating an empty one (a mistyped --db would otherwise look like "no readings").
"""
import os


def existing(path):
    """path (or the default database) when it exists; CommandError in plain words otherwise.
    A URL ("scheme://...") is left to the database layer."""
    from irprobe.cli import CommandError
    from irprobe.db import default_path

    p = path or default_path()
    if "://" in p or p == ":memory:":
        return p
    if os.path.isdir(p):
        raise CommandError("%s is a folder, not a readings database" % p)
    if not os.path.exists(p):
        if path:
            raise CommandError("no database at %s (check the --db path; `irprobe sync` "
                               "creates one)" % p)
        raise CommandError("no readings yet: %s does not exist (run `irprobe sync` first, "
                           "or give --db)" % p)
    return p
