from ecs_migrate.cli.entry import main

main()
