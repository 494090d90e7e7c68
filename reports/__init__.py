"""Reports: a plan (and what-if / forecast results) as tidy pandas DataFrames with units in column names,
and renderers that only read those frames: terminal (rich), JSON, CSV, Markdown and self-contained HTML.
No renderer recomputes anything; nothing here imports the formulation or the solvers.
"""
