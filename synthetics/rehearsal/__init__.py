"""`synthetics rehearse`: the suite before and after the next migration, diffed check by check.

diff.py     pure: two runs → the changes, each judged worse, better, changed or timing
render.py   the diff as terminal lines, Markdown (the GitHub job summary), rehearse.json
            and rehearse.html
schema.py   what the after schema's functions take, to say which parameter a PGRST202 lost
"""
