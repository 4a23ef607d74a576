"""CrossGuard policy pack: `pulumi preview --policy-pack policy` enforces the same guardrails
as `infra plan` (per stack; cross-stack rules run in `infra plan`)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack, StackValidationPolicy

from orchestrator.analysis.policy_adapter import policy_specs

PolicyPack(
    name="aurora-guardrails",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        StackValidationPolicy(
            name=spec.name,
            description=spec.description,
            enforcement_level=EnforcementLevel(spec.enforcement_level),
            validate=spec.validate,
        )
        for spec in policy_specs()
    ],
)
