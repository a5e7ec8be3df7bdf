"""lyse routine files (run as ``__main__`` by lyse or by the analysis service; never imported).

A package only so that the files ship with shotline when it is installed from a wheel.
"""
