"""What the command-line scripts share: one-line errors and the edge where exceptions become them."""

import sys

from absl import logging


def fail(message, code=2):
    """Prints ``error: message`` on one line and exits with ``code``."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def run_guarded(command, save_path, argv):
    """Runs ``command()`` with the errors a user can cause turned into one line each.

    Args:
      command: the script's work; raises run.UserError for anything the user can fix.
      save_path: named in the message when the user interrupts a run.
      argv: absl's remaining arguments; any beyond the program name are refused.
    """
    from aae_tf import run
    logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
        fail(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        command()
    except run.UserError as e:
        fail(str(e), code=1)
    except OSError as e:  # a folder that cannot be written, a path that is a file, a full disk
        fail(f"{e.strerror or e}: {e.filename or save_path}", code=1)
    except KeyboardInterrupt:
        fail(f"interrupted; run the same command again to resume from the last checkpoint in {save_path}", 130)
