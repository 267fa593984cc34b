"""Lab tooling: release student labs from solutions, grade them, and report points under nbval.

- `markers`: the two conventions a lab author writes by hand, solution regions
  (`### BEGIN SOLUTION` / `### END SOLUTION`) and graded cells (`# GRADED: name (2 points)`).
- `release`: `tinylm release` turns solutions/NN-topic-lab.ipynb into labs/NN-topic-lab.ipynb.
- `grade`: `tinylm grade labs/NN-topic-lab.ipynb` runs a student's notebook with the canonical
  graded cells put back and prints a score.
- `checks`: what each lab's graded cells call, one module per lab (`checks.ngrams`, ...), with
  the helpers they share in `checks.common`: a graded cell names what it checks and calls one.
- `nbval_plugin`: a pytest plugin that reads the same graded cells when nbval runs notebooks.
"""
