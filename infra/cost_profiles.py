"""Cost profiles: one tooling config key, ``mlops:costProfile``, sets the MLflow registry's expensive choices.

| choice                        | ``minimal``                  | ``standard`` (the default) |
| ----------------------------- | ---------------------------- | -------------------------- |
| MLflow task capacity          | Fargate Spot                 | on-demand Fargate          |
| Aurora Serverless v2 capacity | 0 to 1 ACU                   | 0 to 4 ACU                 |
| Aurora auto-pause after       | 300 s (the least AWS allows) | 3600 s                     |

``minimal`` is the cheapest platform that still works: the task costs up to 70 % less, but AWS may stop it with
two minutes' notice (ECS starts another when Spot capacity is back, so MLflow can be down for minutes), a busy
hour is capped at 1 ACU, and the first request after 5 quiet minutes waits ~15 s for Aurora to resume. (Fargate
Spot takes ARM64 tasks from platform version 1.4.0; the service asks for LATEST.)
``standard`` is for a team that works in the MLflow UI: the task is not interrupted, Aurora can grow to 4 ACU, and
it stays awake through an hour's pause, which costs a little more per pipeline run but nothing more when idle
(both profiles pause at 0 ACU). ``standard`` is the default because it keeps the on-demand task the registry has
always had; ``minimal`` is a choice to make knowingly.

Each choice is also a config key of its own (``PROFILE_KEYS``); a key set explicitly wins over the profile, so
``costProfile: minimal`` with ``mlflowFargateSpot: false`` is minimal on on-demand Fargate.

The same in both profiles, on purpose:
- HTTPS and authentication: the API Gateway HTTP API is HTTPS-only and MLflow's basic auth is on. Security is
  never a cost setting.
- The front end (HTTP API, VPC link, Cloud Map): it is already the cheapest HTTPS front end (no hourly charge,
  $0.60 a month for Cloud Map's hosted zone and one registered task). A load balancer would add ~$18 a month and
  ~$7 for its two public addresses, and HTTPS on it would need a domain and certificate of your own, so there is
  nothing for ``standard`` to buy there.
- One MLflow task: the single Aurora writer, not the task, bounds availability, and a second task would double
  the Fargate cost and race the first on the schema migration when both start on a new image.
- Aurora's minimum of 0 ACU: a floor of 0.5 ACU would add ~$51 a month idle, most of the default budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

KEY = "costProfile"


@dataclass(frozen=True)
class CostProfile:
    name: str
    fargate_spot: bool
    db_max_acu: int
    db_auto_pause_seconds: int

    def describe(self) -> str:
        capacity = "Fargate Spot" if self.fargate_spot else "on-demand Fargate"
        return (
            f"MLflow on one {capacity} task; Aurora 0-{self.db_max_acu} ACU, pausing after "
            f"{self.db_auto_pause_seconds / 60:g} idle minutes"
        )


PROFILES: Mapping[str, CostProfile] = {
    "minimal": CostProfile("minimal", fargate_spot=True, db_max_acu=1, db_auto_pause_seconds=300),
    "standard": CostProfile("standard", fargate_spot=False, db_max_acu=4, db_auto_pause_seconds=3600),
}
DEFAULT = "standard"

# The config keys (in the mlops namespace) a profile sets; each, set explicitly, overrides its profile's value.
PROFILE_KEYS: tuple[str, ...] = ("mlflowFargateSpot", "mlflowDbMaxAcu", "mlflowDbAutoPauseSeconds")
