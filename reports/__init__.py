"""Reports: a plan (and what-if / forecast results) as tidy pandas DataFrames with units in column names,
and renderers that only read those frames: terminal (rich), JSON, CSV, Markdown and self-contained HTML.
A plan's tables also come as ``reports.rows.Rows`` (the same columns and values on plain lists), which the
terminal renders without importing pandas. No renderer recomputes anything; nothing here imports the
formulation or the solvers.
"""
