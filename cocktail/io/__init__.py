"""Reading and writing audio: files, streams, pipes and atomic writes.

Knows nothing of separation.
"""
