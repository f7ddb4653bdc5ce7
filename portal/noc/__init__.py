"""The NOC's use cases: session search, a phone's profile, kicks and plan changes, background
jobs, live figures."""
