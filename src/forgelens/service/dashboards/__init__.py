"""Dashboards in the browser: ``/engineering-lens``, ``/what-shipped``, ``/delivery``, ``/runs``,
``/pipeline-runs`` (pages, JSON and CSV), and the views ``forgelens report --html`` writes."""
