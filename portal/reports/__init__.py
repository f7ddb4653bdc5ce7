"""Reports: daily roll-ups of logins, sessions, traffic, SMS, refusals and ads.

* ``rollup.py`` — pure: real-name records of a day → figures per scope (total, venue, AC, SSID);
* ``store.py`` — Redis: reading the records (archive files, then the stream), the first-seen
  table, the counters no stream holds, writing a day;
* ``job.py`` — which days to roll up when, the lock, the periodic loop;
* ``query.py`` — a period's report from the stored days (what the page and the API show);
* ``render.py`` — server-side SVG charts, CSV and spreadsheet files.

Nothing imports Flask; ``portal/web/noc_reports.py`` and ``portal/web/api/api_reports.py`` do.
"""
