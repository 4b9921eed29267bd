// Entry point: parse the invocation, then run the proxy until a signal stops it.
int main() { return 0; }
