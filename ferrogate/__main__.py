from ferrogate.cli import main

main()
