"""What a step of the run loop decided: call the model again, stop (the run is complete or
waits for the client), or end the run as an `Ending` says."""

from __future__ import annotations

from enum import Enum

from assistantd.engine.run.endings import Ending


class Next(Enum):
    CONTINUE = "continue"  # call the model again
    DONE = "done"  # nothing more to do in this attempt


Outcome = Next | Ending
