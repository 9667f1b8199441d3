from ecs_migrate.entry import main

main()
