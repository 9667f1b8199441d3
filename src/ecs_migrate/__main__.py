from ecs_migrate.cli import main

main()
