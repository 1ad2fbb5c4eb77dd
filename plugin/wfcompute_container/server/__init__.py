"""The method table: method name -> params model -> operation -> result model."""
