"""The checks behind the labs' graded cells: one module per lab, named by its topic.

- `common`: what every check needs. Call the student's code safely (an exception inside it is
  reported with the call and the line it came from), compare numbers, arrays and tensors with an
  expected-vs-got message at the first mismatch, and note when an exercise builds on an earlier
  one that is still wrong.
- `ngrams` (lab 1), `embeddings` (lab 2), `llama` (lab 3), `tokens_and_training` (lab 3b),
  `generation` (lab 4), `structured` (lab 5), `speculative` (lab 6), `medusa` (lab 7): one
  function per graded cell, taking the student's functions or classes as arguments.

A graded cell only names what it checks and calls its check::

    # GRADED: counting (2 points)
    from tinylm.grading.checks import ngrams as checks
    checks.count_ngrams(count_ngrams)
    print("counting: OK (2/2 points)")

A check returns None when everything is right and raises AssertionError with a message for the
student otherwise: what was called, what was expected, what came back. It compares the student's
code with the package's reference (`tinylm.*`) and, where the lab does, with the library the
chapter checks against (NLTK, gensim, PyTorch, transformers), on a tiny case worked by hand and
on random inputs from fixed seeds. NotImplementedError, the state of an unsolved exercise,
always passes through unchanged.

The grader runs the student's cells and the graded cells in one kernel, so a student's cell
could replace a check (``checks.count_ngrams = lambda f: None``). It therefore removes this
package and its modules from ``sys.modules`` before every graded cell (`grade.run_and_score`):
each graded cell imports the checks afresh from their files.
"""
