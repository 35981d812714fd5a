"""``mailproc init DIR``: copy the shipped rules, templates and registration forms out of the
package into DIR/rules and DIR/templates, for the library to edit (mailproc.shipped).

Never overwrites: a file already there is left as it is and listed as left, so running it
again after an upgrade adds only what is new. It prints the settings that point at the
copies.
"""

from __future__ import annotations

from pathlib import Path

from mailproc.errors import ConfigError
from mailproc.shipped import FOLDERS, copy_out


def register(sub) -> None:
    p = sub.add_parser("init", help="copy the shipped rules, templates and forms into DIR "
                                    "for the library to edit (never overwrites)")
    p.add_argument("dir", metavar="DIR", help="the folder to copy into (made if missing): "
                                              "DIR/rules and DIR/templates")
    p.set_defaults(func=run)


def run(args) -> int:
    dest = Path(args.dir).absolute()
    try:
        done = copy_out(dest)
    except OSError as exc:
        raise ConfigError(f"init {args.dir}: cannot write there ({exc.strerror}: "
                          f"{exc.filename}); choose another folder or fix its "
                          f"permissions") from None
    for name in FOLDERS:
        copied, left = done.copied[name], done.left[name]
        print(f"{dest / name}: copied {len(copied)} files, left {len(left)} existing files "
              f"as they were")
        for rel in copied:
            print(f"  copied  {rel}")
        for rel in left:
            print(f"  left    {rel}")
    print("\nIn the settings file (mailproc.toml):\n"
          f"[paths]\nrules = \"{dest / 'rules'}\"\ntemplates = \"{dest / 'templates'}\"\n\n"
          f"Let the librarians' group edit them (e.g. chgrp -R librarians {dest} && chmod -R "
          f"g+w {dest}); the service only reads them. Check with `mailproc config check`, "
          "`mailproc rules check` and `mailproc templates check`.")
    return 0
