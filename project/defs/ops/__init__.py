"""Operations shared by every capability: layer policy, automation, alerts, run metrics.

The executor and the default step retry policy are here too (`runtime`).

Nothing here imports a capability (`project.defs.<capability>`, `project.lib.<capability>`):
what applies to one follows from conventions (groups named `<capability>_<layer>`) and
from what it registers (side stores, `project.lib.stores`). A capability's own jobs and
schedules live in its folder.

The beta and preview Dagster APIs used here (automation sensors evaluated in the code
server, the instance's YAML log handlers) are deliberate choices; their warnings, printed
by every process that loads the code location, would break the JSON log streams.
"""

import warnings

import dagster as dg

warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
