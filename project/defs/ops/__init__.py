"""Operations: schedules, automation sensors, alerts, run metrics, project-wide policy.

The beta and preview Dagster APIs used here (automation sensors evaluated in the code
server, the instance's YAML log handlers) are deliberate choices; their warnings, printed
by every process that loads the code location, would break the JSON log streams.
"""

import warnings

import dagster as dg

warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
