"""``nkl multidb``: the train-on-i/test-on-j matrix of databases, each cell an experiment cached like any other."""
