"""Parts of `manage.py bench`: synthetic data, worker processes, measurements and reports.

Everything here runs against a throwaway PostgreSQL database that the bench creates itself
(see ``routing.bench.db``); nothing in this package is imported by the application.
"""
