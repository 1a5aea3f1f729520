"""Code the kernel runs at start-up, inside the sandbox: caps what one cell may print."""

from __future__ import annotations

# The cap here only spares the server from receiving floods; the server caps logs on its own
# side too, so user code that removes this one gains nothing.

_TEMPLATE = """\
def _assistantd_cap_output(cap):
    import sys

    state = {"used": 0}

    def reset(*_args):
        state["used"] = 0

    get_ipython().events.register("pre_execute", reset)

    def capped(write):
        def capped_write(text):
            remaining = cap - state["used"]
            if remaining > 0:
                state["used"] += len(text)
                write(text[:remaining])
            return len(text)

        return capped_write

    for stream in (sys.stdout, sys.stderr):
        stream.write = capped(stream.write)


_assistantd_cap_output({cap})
del _assistantd_cap_output
"""


def startup_code(output_chars: int) -> bytes:
    """The startup file for a kernel whose logs are capped at `output_chars` on the server."""
    # A little more than the server keeps, so that the server still sees the overflow and marks
    # the logs as truncated.
    return _TEMPLATE.replace("{cap}", str(output_chars + 1024)).encode("utf-8")
