"""Tests of portal/noc/: session search, kicks and plan changes, jobs, live figures."""
