"""What every part of Ember may use: errors fit to show a user, events, paths, the clock, JSON
types, CPU facts.
"""
