"""The phase checklist templates (phase1.md … phase3.md), installed as the package cutover.checklists."""
