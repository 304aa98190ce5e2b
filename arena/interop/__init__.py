"""Published judgments and answers from other tools into the results store."""
