"""Local drafts checked for real, escalated to a cloud model only when they fail.

`escalation` runs an edit task through it: the local model drafts (`drafts`), the draft
is checked in a shadow copy of the workspace (`shadow`, `checks`), and a failure goes to
the cloud model with the failing output attached, when `policy` allows that file, with
secrets taken out (`redact`). Every escalation is appended to the `ledger`.
"""
