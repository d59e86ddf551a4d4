"""Reference solutions to notebook 2's exercises (for instructors; `make solutions` checks them).

Each entry: the start of the answer cell it replaces -> (the solution, what the check cell then prints).
"""

SOLUTIONS = {
    "continuation_probability = None": (
        "import math\n\ncontinuation_probability = math.prod(step.candidates[0][1] for step in manual.steps)",
        "Correct:"),
    "def work_refeed(n, N):": (
        "def work_refeed(n, N):\n    return n * N + N * (N - 1) // 2  # step i feeds n + i tokens, i = 0 .. N-1\n\n\n"
        "def work_cached(n, N):\n    return n + (N - 1)  # the prompt once, then one token per later step",
        "Correct:"),
    "my_temperature = None": ("my_temperature = 0.01  # near 0 the distribution collapses onto the favourite",
                              "Same as greedy"),
}
