"""The two commands that run the whole pipeline, prompts -> answers -> judgments -> ratings: `arena evaluate`
(candidates against a baseline) and `arena tournament` (every pair, or a budget of matchups).

    commands.py  the handlers and the pipeline itself (JudgingSession: generate what is missing, judge both
                 orders, rate and print)
    options.py   the typed options the handlers build from the command line
    grading.py   --protocol single: MT-bench grades, or recorded ones replayed
    panel.py     several --judge options: each member judges as it would alone, under one cost cap
    dryrun.py    --dry-run: the calls and the cost planned, nothing loaded or called
"""
