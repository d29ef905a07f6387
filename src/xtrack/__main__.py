from xtrack.cli import main

main()
