"""``homeport check``: prove a rendered GitOps tree valid offline.

Schemas (Kubernetes OpenAPI and CRDs, strict), references between objects, and policy
rules, each finding with a rule ID, a file and a line. See ``docs/check.md``.
"""

from homeport.check.engine import check_tree
from homeport.check.model import RULES, CheckReport, Finding, ObjectRef, Rule

__all__ = ["RULES", "CheckReport", "Finding", "ObjectRef", "Rule", "check_tree"]
