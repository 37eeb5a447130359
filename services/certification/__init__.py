"""Mentor and leercoach certification (DOMAIN.md section 2).

A *leercoach* is a learning coach who guides people towards training; a *mentor* guides mentees
within an accredited mentoring programme. ``domain/`` holds the pure rules (no I/O) and
``policies/`` the versioned policy data they read.
"""
