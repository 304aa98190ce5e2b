"""Model backends behind one interface (`ChatModel.generate`), chosen by a model spec."""
